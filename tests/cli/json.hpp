// SPDX-License-Identifier: Apache-2.0
// A small strict JSON reader for checking `--json` output in tests (RFC 8259; no extensions).
#pragma once

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ts::test {

struct Json {
    enum class Type { Null, Bool, Number, String, Array, Object } type = Type::Null;
    bool boolean = false;
    double number = 0;
    std::string string;
    std::vector<Json> array;
    std::map<std::string, Json> object;

    /// Member `key` of an object; throws std::out_of_range naming the key when absent.
    const Json& operator[](const std::string& key) const {
        if (type != Type::Object)
            throw std::out_of_range("not an object (looking for " + key + ")");
        auto it = object.find(key);
        if (it == object.end()) throw std::out_of_range("no member '" + key + "'");
        return it->second;
    }
    bool has(const std::string& key) const { return type == Type::Object && object.count(key); }
    /// Strings of an array of strings.
    std::vector<std::string> strings() const {
        std::vector<std::string> out;
        for (const auto& v : array) out.push_back(v.string);
        return out;
    }
};

/// Parses one JSON text (surrounding whitespace allowed). Throws std::runtime_error with the
/// offset of the first error.
Json parse_json(std::string_view text);

}  // namespace ts::test
