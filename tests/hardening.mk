# hardening: rules added by the hardening work.
