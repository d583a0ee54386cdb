"""Click-to-dial, tagged call recording and voice signatures for Django CRMs on a Noojee PBX."""

__version__ = "0.1.0"
