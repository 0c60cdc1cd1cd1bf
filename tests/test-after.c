#include "common.h"
TestSuite(after, .init = test_setup);
Test(after, placeholder) { check_fds(); }
