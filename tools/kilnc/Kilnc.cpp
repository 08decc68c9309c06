//===- Kilnc.cpp - the kiln compiler driver --------------------------------===//
#include <cstdio>
int main() {
  std::fprintf(stderr, "kilnc: not implemented yet\n");
  return 1;
}
