"""Declarative policies: the file schema (pydantic) and one pure function per rule kind."""
