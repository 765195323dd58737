"""HTTP API blueprints: thin views over services."""
