#include "common.h"
TestSuite(race, .init = test_setup);
Test(race, placeholder) { check_fds(); }
