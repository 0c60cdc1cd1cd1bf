#include "common.h"
TestSuite(describe, .init = test_setup);
Test(describe, placeholder) { check_fds(); }
