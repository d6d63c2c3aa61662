#pragma once
// An immutable, reference-counted byte buffer. Slices share the allocation, so a
// decoded PUBLISH's topic and payload can be handed to many subscribers without
// copying (STYLE §c31-33, async_mqtt's `buffer`).
//
// Thread safety: distinct objects: safe; shared const objects: safe (the owner
// is a std::shared_ptr, whose count is atomic).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>

namespace portcullis::protocol {

class shared_buffer {
 public:
  shared_buffer() = default;

  /// A new buffer of `size` bytes, uninitialised, writable until it is shared.
  static shared_buffer allocate(std::size_t size) {
    shared_buffer b;
    auto owner = std::shared_ptr<std::uint8_t[]>(new std::uint8_t[size == 0 ? 1 : size]);
    b.data_ = owner.get();
    b.size_ = size;
    b.owner_ = std::move(owner);
    return b;
  }

  /// A new buffer holding a copy of `bytes`.
  static shared_buffer copy_of(std::span<const std::uint8_t> bytes) {
    auto b = allocate(bytes.size());
    if (!bytes.empty()) {
      std::memcpy(b.mutable_data(), bytes.data(), bytes.size());
    }
    return b;
  }
  static shared_buffer copy_of(std::string_view s) {
    return copy_of(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
  }

  const std::uint8_t* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::span<const std::uint8_t> bytes() const noexcept { return {data_, size_}; }
  std::string_view view() const noexcept { return {reinterpret_cast<const char*>(data_), size_}; }

  /// A view of [offset, offset+length) sharing this buffer's allocation.
  /// Precondition: offset + length <= size().
  shared_buffer slice(std::size_t offset, std::size_t length) const noexcept {
    shared_buffer b;
    b.owner_ = owner_;
    b.data_ = data_ + offset;
    b.size_ = length;
    return b;
  }

  /// Writable access for the producer that just allocated the buffer, before it is shared.
  std::uint8_t* mutable_data() noexcept { return const_cast<std::uint8_t*>(data_); }

  long use_count() const noexcept { return owner_.use_count(); }

 private:
  std::shared_ptr<const std::uint8_t[]> owner_;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace portcullis::protocol
