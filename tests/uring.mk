# uring: rules added by the uring work.
