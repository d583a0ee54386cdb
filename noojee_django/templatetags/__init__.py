"""Template tags of the app: ``{% load noojee %}``."""
