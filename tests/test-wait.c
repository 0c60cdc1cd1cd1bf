#include "common.h"
TestSuite(wait, .init = test_setup);
Test(wait, placeholder) { check_fds(); }
