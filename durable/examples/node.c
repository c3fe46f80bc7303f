/* A durable-queue node in C: runs the "print" handler's tasks, printing each, until its standard input closes.
 * Usage: node URL ID. Built and run twice by `cargo run -p taskwheel-redis --example two_nodes -- --c`. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "taskwheel.h"

static int32_t print_task(void *user_data, const uint8_t *payload, size_t len) {
    printf("%s ran: %.*s\n", (const char *)user_data, (int)len, (const char *)payload);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s URL ID\n", argv[0]);
        return 2;
    }
    tw_durable_node_builder *builder = NULL;
    tw_durable_node *node = NULL;
    tw_status status = tw_durable_node_builder_new(argv[1], "demo", &builder);
    if (status == TW_OK) status = tw_durable_node_builder_handler(builder, "print", print_task, argv[2], NULL);
    if (status == TW_OK) status = tw_durable_node_builder_configure(builder, 2, 0, 0, argv[2]);
    if (status == TW_OK) status = tw_durable_node_start(builder, &node); /* consumes the builder */
    else tw_durable_node_builder_free(builder);
    if (status != TW_OK) {
        fprintf(stderr, "%s: %s\n", argv[2], tw_status_str(status));
        return 1;
    }
    char buf[256];
    while (fgets(buf, sizeof buf, stdin) != NULL) {} /* until the demo closes our input */
    status = tw_durable_node_shutdown(node);
    return status == TW_OK ? 0 : 1;
}
