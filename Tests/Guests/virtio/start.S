// start.S: entry of the virtio guest (a freestanding C program): a stack, main(), then PSCI
// SYSTEM_OFF (Tests/Guests/include/c-start.S).
#include "c-start.S"
    c_entry
