"""Base layer: errors, file locations, params loading and checking, table IO. Imports no other
mlgate layer."""
