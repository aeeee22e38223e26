// start.S: entry of the fpmath guest (a freestanding C program with FP/SIMD code): FP/SIMD
// enabled at EL1, a stack, main(), then PSCI SYSTEM_OFF (Tests/Guests/include/c-start.S).
#include "c-start.S"
    c_entry fp=1
