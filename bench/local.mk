# bench: rules added by the bench work.
