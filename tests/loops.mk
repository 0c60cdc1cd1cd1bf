# loops: rules added by the loops work.
