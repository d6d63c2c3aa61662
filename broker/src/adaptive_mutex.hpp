#pragma once
// A mutex for short critical sections that two I/O workers take at a high rate
// (persistence.hpp: one lock per acknowledgement of a persistent subscriber).
// glibc's adaptive mutex (PTHREAD_MUTEX_ADAPTIVE_NP) spins briefly on a held lock
// before it sleeps in the kernel. The holder runs on the other core and leaves
// within a microsecond, so a waiter usually gets the lock without the futex wait,
// wake-up and two context switches that a default mutex pays on every collision.
//
// Thread safety: lock()/unlock() from any thread (BasicLockable).

#include <pthread.h>

namespace portcullis::broker {

class adaptive_mutex {
 public:
  adaptive_mutex() noexcept {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&mutex_, &attr);
    pthread_mutexattr_destroy(&attr);
  }
  ~adaptive_mutex() { pthread_mutex_destroy(&mutex_); }
  adaptive_mutex(const adaptive_mutex&) = delete;
  adaptive_mutex& operator=(const adaptive_mutex&) = delete;

  void lock() noexcept { pthread_mutex_lock(&mutex_); }
  void unlock() noexcept { pthread_mutex_unlock(&mutex_); }

 private:
  pthread_mutex_t mutex_;
};

}  // namespace portcullis::broker
