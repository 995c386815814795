"""Toxiproxy: a typed client, discovery of a running server, and an embedded wire-compatible server."""
