/* libtaskwheel.a linked beside another Rust static library in one C program: both bring a copy of the Rust
 * runtime (allocator shims, panic machinery); the program must link and both libraries must work. Built and run
 * by tests/tests/c_hosts.rs. */
#include <stdint.h>
#include <stdio.h>

#include "taskwheel.h"

uint64_t other_sum_of_digits(uint64_t n);

static int ran(void *p) {
    (void)p;
    return 0;
}

int main(void) {
    tw_engine *engine;
    if (tw_engine_new(NULL, &engine) != TW_OK) return 1;
    tw_task_id id;
    tw_state state;
    if (tw_schedule_after(engine, 1000000, ran, NULL, NULL, &id) != TW_OK) return 2;
    if (tw_wait(engine, id, UINT64_MAX, &state) != TW_OK || state != TW_STATE_SUCCEEDED) return 3;
    tw_engine_free(engine);
    uint64_t digits = other_sum_of_digits(12345);
    printf("taskwheel ran its task; the other library says %llu\n", (unsigned long long)digits);
    return digits == 15 ? 0 : 4;
}
