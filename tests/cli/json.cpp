// SPDX-License-Identifier: Apache-2.0
#include "tests/cli/json.hpp"

#include <cstdlib>

namespace ts::test {

namespace {

class Parser {
  public:
    explicit Parser(std::string_view t) : m_t(t) {}

    Json document() {
        Json v = value();
        ws();
        if (m_i != m_t.size()) fail("trailing characters");
        return v;
    }

  private:
    [[noreturn]] void fail(const std::string& what) {
        throw std::runtime_error("invalid JSON at offset " + std::to_string(m_i) + ": " + what);
    }
    void ws() {
        while (m_i < m_t.size() &&
               (m_t[m_i] == ' ' || m_t[m_i] == '\n' || m_t[m_i] == '\r' || m_t[m_i] == '\t'))
            ++m_i;
    }
    bool eat(char c) {
        ws();
        if (m_i < m_t.size() && m_t[m_i] == c) {
            ++m_i;
            return true;
        }
        return false;
    }
    void expect(char c) {
        if (!eat(c)) fail(std::string("expected '") + c + "'");
    }
    bool literal(std::string_view word) {
        if (m_t.substr(m_i, word.size()) == word) {
            m_i += word.size();
            return true;
        }
        return false;
    }

    Json value() {
        ws();
        if (m_i >= m_t.size()) fail("unexpected end");
        Json v;
        char c = m_t[m_i];
        if (c == '{') {
            ++m_i;
            v.type = Json::Type::Object;
            if (eat('}')) return v;
            do {
                ws();
                if (m_i >= m_t.size() || m_t[m_i] != '"') fail("expected a member name");
                std::string key = string();
                expect(':');
                if (v.object.count(key)) fail("duplicate member '" + key + "'");
                v.object.emplace(key, value());
            } while (eat(','));
            expect('}');
        } else if (c == '[') {
            ++m_i;
            v.type = Json::Type::Array;
            if (eat(']')) return v;
            do v.array.push_back(value());
            while (eat(','));
            expect(']');
        } else if (c == '"') {
            v.type = Json::Type::String;
            v.string = string();
        } else if (literal("true")) {
            v.type = Json::Type::Bool;
            v.boolean = true;
        } else if (literal("false")) {
            v.type = Json::Type::Bool;
        } else if (literal("null")) {
            v.type = Json::Type::Null;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            std::size_t start = m_i;
            if (m_t[m_i] == '-') ++m_i;
            if (m_i < m_t.size() && m_t[m_i] == '0') {
                ++m_i;
            } else {
                if (m_i >= m_t.size() || m_t[m_i] < '1' || m_t[m_i] > '9') fail("bad number");
                while (m_i < m_t.size() && m_t[m_i] >= '0' && m_t[m_i] <= '9') ++m_i;
            }
            if (m_i < m_t.size() && m_t[m_i] == '.') {
                ++m_i;
                if (m_i >= m_t.size() || m_t[m_i] < '0' || m_t[m_i] > '9') fail("bad fraction");
                while (m_i < m_t.size() && m_t[m_i] >= '0' && m_t[m_i] <= '9') ++m_i;
            }
            v.type = Json::Type::Number;
            v.number = std::strtod(std::string(m_t.substr(start, m_i - start)).c_str(), nullptr);
        } else {
            fail(std::string("unexpected '") + c + "'");
        }
        return v;
    }

    std::string string() {
        ++m_i;  // opening quote
        std::string out;
        while (true) {
            if (m_i >= m_t.size()) fail("unterminated string");
            auto c = static_cast<unsigned char>(m_t[m_i++]);
            if (c == '"') return out;
            if (c < 0x20) fail("control character in string");
            if (c != '\\') {
                out += static_cast<char>(c);
                continue;
            }
            if (m_i >= m_t.size()) fail("unterminated escape");
            char e = m_t[m_i++];
            switch (e) {
                case '"':
                    out += '"';
                    break;
                case '\\':
                    out += '\\';
                    break;
                case '/':
                    out += '/';
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'n':
                    out += '\n';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'u': {
                    if (m_i + 4 > m_t.size()) fail("short \\u escape");
                    unsigned long cp =
                        std::strtoul(std::string(m_t.substr(m_i, 4)).c_str(), nullptr, 16);
                    m_i += 4;
                    if (cp < 0x80) {
                        out += static_cast<char>(cp);
                    } else if (cp < 0x800) {
                        out += static_cast<char>(0xc0 | (cp >> 6));
                        out += static_cast<char>(0x80 | (cp & 0x3f));
                    } else {
                        out += static_cast<char>(0xe0 | (cp >> 12));
                        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
                        out += static_cast<char>(0x80 | (cp & 0x3f));
                    }
                    break;
                }
                default:
                    fail("bad escape");
            }
        }
    }

    std::string_view m_t;
    std::size_t m_i = 0;
};

}  // namespace

Json parse_json(std::string_view text) { return Parser(text).document(); }

}  // namespace ts::test
