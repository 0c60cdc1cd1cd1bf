#include "common.h"
TestSuite(args, .init = test_setup);
Test(args, placeholder) { check_fds(); }
