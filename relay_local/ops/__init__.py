"""Operating a stack, deployed or local: `relay redrive`, `relay openapi`."""
