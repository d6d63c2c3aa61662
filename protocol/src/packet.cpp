// Packet type names and the variant-to-type mapping. The variant's alternative
// order follows the wire type values (CONNECT = 1 ... DISCONNECT = 14).

#include "portcullis/protocol/packet.hpp"

#include <type_traits>
#include <variant>

namespace portcullis::protocol {

static_assert(std::variant_size_v<packet> == 14);

packet_type type_of(const packet& p) noexcept {
  // Alternative i holds wire type i + 1 (see the static_asserts below).
  return static_cast<packet_type>(p.index() + 1);
}

static_assert(std::is_same_v<std::variant_alternative_t<0, packet>, connect>);
static_assert(std::is_same_v<std::variant_alternative_t<2, packet>, publish>);
static_assert(std::is_same_v<std::variant_alternative_t<7, packet>, subscribe>);
static_assert(std::is_same_v<std::variant_alternative_t<13, packet>, disconnect>);

std::string_view name_of(packet_type t) noexcept {
  switch (t) {
    case packet_type::connect: return "CONNECT";
    case packet_type::connack: return "CONNACK";
    case packet_type::publish: return "PUBLISH";
    case packet_type::puback: return "PUBACK";
    case packet_type::pubrec: return "PUBREC";
    case packet_type::pubrel: return "PUBREL";
    case packet_type::pubcomp: return "PUBCOMP";
    case packet_type::subscribe: return "SUBSCRIBE";
    case packet_type::suback: return "SUBACK";
    case packet_type::unsubscribe: return "UNSUBSCRIBE";
    case packet_type::unsuback: return "UNSUBACK";
    case packet_type::pingreq: return "PINGREQ";
    case packet_type::pingresp: return "PINGRESP";
    case packet_type::disconnect: return "DISCONNECT";
  }
  return "UNKNOWN";
}

}  // namespace portcullis::protocol
