#include "testutil.h"
int main(void) { CHECK(1); return tu_finish("test_channel"); }
