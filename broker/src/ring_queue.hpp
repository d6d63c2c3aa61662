#pragma once
// A FIFO that allocates nothing until first used and grows by doubling: the
// per-session message queue and in-flight window. std::deque allocates a
// 512-byte block plus its map at construction, which for tens of thousands of
// idle sessions is most of their memory (bench: idle bytes per connection).
// Indices are 32-bit (queues are bounded by max_queued_messages, a uint32), so
// an empty queue is 24 bytes rather than 32.
//
// Thread safety: none (the owner's mutex guards it).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

namespace portcullis::broker {

template <class T>
class ring_queue {
 public:
  ring_queue() = default;
  ring_queue(const ring_queue&) = delete;
  ring_queue& operator=(const ring_queue&) = delete;
  ~ring_queue() { clear(); }

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }

  T& front() noexcept { return at(0); }
  T& operator[](std::size_t i) noexcept { return at(i); }
  const T& operator[](std::size_t i) const noexcept { return slots_[(head_ + i) & (capacity_ - 1)]; }

  void push_back(T value) {
    if (size_ == capacity_) grow();
    new (&slots_[(head_ + size_) & (capacity_ - 1)]) T(std::move(value));
    ++size_;
  }

  void pop_front() noexcept {
    at(0).~T();
    head_ = (head_ + 1) & (capacity_ - 1);
    --size_;
  }

  /// Removes element i, keeping order.
  void erase(std::size_t i) {
    for (std::size_t j = i; j + 1 < size_; ++j) at(j) = std::move(at(j + 1));
    at(size_ - 1).~T();
    --size_;
  }

  /// Removes every element for which pred is true, keeping order.
  template <class Pred>
  std::size_t erase_if(Pred pred) {
    std::uint32_t kept = 0;
    for (std::uint32_t i = 0; i < size_; ++i) {
      if (!pred(at(i))) {
        if (kept != i) at(kept) = std::move(at(i));
        ++kept;
      }
    }
    std::size_t removed = size_ - kept;
    for (std::uint32_t i = kept; i < size_; ++i) at(i).~T();
    size_ = kept;
    return removed;
  }

  void clear() noexcept {
    while (size_) {
      at(0).~T();
      head_ = (head_ + 1) & (capacity_ - 1);
      --size_;
    }
    release();
  }

 private:
  T& at(std::size_t i) noexcept { return slots_[(head_ + i) & (capacity_ - 1)]; }

  void grow() {
    std::uint32_t cap = capacity_ ? capacity_ * 2 : 4;
    auto fresh = std::unique_ptr<T[], deleter>(static_cast<T*>(::operator new(cap * sizeof(T), std::align_val_t{alignof(T)})));
    for (std::uint32_t i = 0; i < size_; ++i) {
      new (&fresh[i]) T(std::move(at(i)));
      at(i).~T();
    }
    slots_ = std::move(fresh);
    capacity_ = cap;
    head_ = 0;
  }

  /// Gives the memory back (clear()): a queue that never held anything, or was
  /// cleared, holds none. A busy queue keeps its slots to avoid churn.
  void release() noexcept {
    slots_.reset();
    capacity_ = 0;
    head_ = 0;
  }

  struct deleter {
    void operator()(T* p) const noexcept { ::operator delete(p, std::align_val_t{alignof(T)}); }
  };
  std::unique_ptr<T[], deleter> slots_;
  std::uint32_t capacity_ = 0;  // a power of two, or 0
  std::uint32_t head_ = 0;
  std::uint32_t size_ = 0;
};

}  // namespace portcullis::broker
