"""The app's management commands. Their output stays in English, untranslated, as that of Django's
own commands does: it is read in logs and by scripts, by whoever runs the deployment."""
