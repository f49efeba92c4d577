/* main.c: kds-server entry point (placeholder until server.c lands). */
#include <stdio.h>

int main(void) {
  puts("kds-server: not built yet");
  return 1;
}
