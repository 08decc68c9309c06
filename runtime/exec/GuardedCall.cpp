//===- GuardedCall.cpp - call compiled code whose allocations may fail -----===//
#include "kiln/GuardedCall.h"

#include <csetjmp>
#include <cstdio>
#include <cstdlib>

namespace kiln::detail {
namespace {

// The checked allocator of compiled code. Each block carries a 16-byte header (malloc's alignment
// is kept) linking it into the list of the guarded call running on this thread, so that a
// failed allocation can free everything the abandoned call held.
struct Block {
  Block *prev, *next; // null while not in a guarded call's list
};
static_assert(sizeof(Block) == 16);

struct Guard {
  std::jmp_buf env;
  Block live; // circular list sentinel
  uint64_t failed = 0;
};

thread_local Guard *activeGuard = nullptr;

} // namespace

void *guardedAlloc(uint64_t bytes) {
  Guard *g = activeGuard;
  void *p = bytes <= UINT64_MAX - sizeof(Block) ? std::malloc(bytes + sizeof(Block)) : nullptr;
  if (!p) {
    if (g) {
      g->failed = bytes ? bytes : 1;
      std::longjmp(g->env, 1);
    }
    std::fprintf(stderr, "kiln: out of memory allocating %llu bytes in compiled code\n",
                 static_cast<unsigned long long>(bytes));
    std::abort();
  }
  auto *b = static_cast<Block *>(p);
  if (g) {
    b->next = g->live.next, b->prev = &g->live;
    g->live.next->prev = b, g->live.next = b;
  } else {
    b->prev = b->next = nullptr;
  }
  return b + 1;
}

void guardedFree(void *p) {
  if (!p)
    return;
  Block *b = static_cast<Block *>(p) - 1;
  if (b->prev)
    b->prev->next = b->next, b->next->prev = b->prev;
  std::free(b);
}

uint64_t callGuarded(StepFn fn, void **args) {
  Guard g;
  g.live.prev = g.live.next = &g.live;
  Guard *outer = activeGuard;
  activeGuard = &g;
  if (setjmp(g.env) == 0) {
    fn(args);
  } else {
    for (Block *b = g.live.next; b != &g.live;) {
      Block *next = b->next;
      std::free(b);
      b = next;
    }
  }
  activeGuard = outer;
  return g.failed;
}

} // namespace kiln::detail
