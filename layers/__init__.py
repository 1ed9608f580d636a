"""One module per layer: the table model, its pydantic schemas and its queries."""
