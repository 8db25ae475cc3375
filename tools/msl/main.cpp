// The msl command line (written next).
int main() { return 0; }
