#include "server.h"
int main(void) { return 0; }
