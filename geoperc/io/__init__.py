"""The only package that knows files, CRS and affine math (ARCHITECTURE.md)."""
