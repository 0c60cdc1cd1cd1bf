# stress: standalone pthread stress programs (TSan builds run these).
