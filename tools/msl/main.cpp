#include "tools/msl/Driver.h"

int main(int argc, char** argv) { return msl::mslMain(argc, argv); }
