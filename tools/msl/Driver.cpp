namespace msl {}
