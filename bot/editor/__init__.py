"""Tools for content editors: validate, test, publish and render content."""
