"""What every API of the product shares: the error shape, query parameters, renderers, negotiation."""
