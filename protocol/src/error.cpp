// Stable names of decode errors ("mqtt.<enumerator>"), the one table the broker
// logs, counts and shows in the admin API (STYLE §c17). Names never change once
// released; new enumerators get new names.

#include "portcullis/protocol/error.hpp"

namespace portcullis::protocol {

std::string_view name_of(decode_error e) noexcept {
  switch (e) {
    case decode_error::none: return "mqtt.none";
    case decode_error::remaining_length_overflow: return "mqtt.remaining_length_overflow";
    case decode_error::remaining_length_noncanonical: return "mqtt.remaining_length_noncanonical";
    case decode_error::packet_too_large: return "mqtt.packet_too_large";
    case decode_error::reserved_packet_type: return "mqtt.reserved_packet_type";
    case decode_error::invalid_fixed_header_flags: return "mqtt.invalid_fixed_header_flags";
    case decode_error::length_mismatch: return "mqtt.length_mismatch";
    case decode_error::invalid_utf8: return "mqtt.invalid_utf8";
    case decode_error::utf8_null_character: return "mqtt.utf8_null_character";
    case decode_error::utf8_surrogate: return "mqtt.utf8_surrogate";
    case decode_error::invalid_protocol_name: return "mqtt.invalid_protocol_name";
    case decode_error::invalid_connect_flags: return "mqtt.invalid_connect_flags";
    case decode_error::invalid_qos: return "mqtt.invalid_qos";
    case decode_error::zero_packet_id: return "mqtt.zero_packet_id";
    case decode_error::empty_subscription_list: return "mqtt.empty_subscription_list";
    case decode_error::invalid_topic_name: return "mqtt.invalid_topic_name";
    case decode_error::invalid_topic_filter: return "mqtt.invalid_topic_filter";
    case decode_error::invalid_subscribe_options: return "mqtt.invalid_subscribe_options";
    case decode_error::invalid_return_code: return "mqtt.invalid_return_code";
    case decode_error::invalid_connack_flags: return "mqtt.invalid_connack_flags";
  }
  return "mqtt.unknown";
}

}  // namespace portcullis::protocol
