"""What a human operator uses: the CLI commands over the service, the store and the core."""
