"""The REST API: calls, recordings and their legs, for CRMs and scripts that do not render templates."""
