# examples: rules added by the examples work.
