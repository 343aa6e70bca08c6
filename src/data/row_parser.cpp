#include "adaensemble/data/row_parser.h"

#include <fast_float/fast_float.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>

#include "adaensemble/data/bad_rows.h"
#include "adaensemble/data/hashing.h"

namespace adaensemble::data {
namespace {

const char* const kHours[24] = {"00", "01", "02", "03", "04", "05", "06", "07",
                                "08", "09", "10", "11", "12", "13", "14", "15",
                                "16", "17", "18", "19", "20", "21", "22", "23"};
const char* const kWeekdays[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// Returns a mask with bit i set where block[i] == byte, for 16 bytes.
inline uint32_t byte_mask(const char* block, char byte) {
#if defined(__SSE2__)
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block));
  return static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, _mm_set1_epi8(byte))));
#else
  uint32_t mask = 0;
  for (int i = 0; i < 16; ++i) mask |= static_cast<uint32_t>(block[i] == byte) << i;
  return mask;
#endif
}

std::string quoted(const char* begin, const char* end) {
  return "\"" + std::string(begin, end) + "\"";
}

}  // namespace

void BadRowReport::merge(const BadRowReport& other, int64_t limit) {
  count += other.count;
  rows += other.rows;
  for (const BadRow& row : other.first) {
    if (static_cast<int64_t>(first.size()) < limit) first.push_back(row);
  }
}

RowParser::RowParser(const Schema& schema) : schema_(schema) {
  int numeric = 0;
  int categorical = 0;
  for (const Column& column : schema_.columns) {
    switch (column.kind) {
      case ColumnKind::kNumeric:
        slot_.push_back(numeric++);
        break;
      case ColumnKind::kCategorical:
        slot_.push_back(categorical++);
        break;
      case ColumnKind::kHour:
        slot_.push_back(categorical);
        categorical += 2;
        break;
      default:
        slot_.push_back(-1);
    }
  }
  fields_ = static_cast<int64_t>(schema_.columns.size());
  categorical_ = categorical;
  numeric_ = numeric;
  for (const Column& column : schema_.columns) {
    const bool plain = column.missing_token.empty() && !schema_.indexed_values;
    Path path = Path::kGeneral;
    if (plain && column.kind == ColumnKind::kCategorical) path = Path::kCategorical;
    if (plain && column.kind == ColumnKind::kNumeric) path = Path::kNumeric;
    path_.push_back(path);
  }
}

bool RowParser::parse_number(std::string_view name, const char* begin, const char* end, float* out,
                             std::string* reason) {
  const char* p = begin;
  const bool negative = p < end && *p == '-';
  if (p < end && (*p == '-' || *p == '+')) ++p;
  const char* digits = p;
  uint64_t value = 0;
  while (p < end && static_cast<unsigned>(*p - '0') < 10) value = value * 10 + (*p++ - '0');
  const std::ptrdiff_t count = p - digits;
  if (p == end && count > 0) {
    const uint64_t limit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + negative;
    if (count > 19 || value > limit) {
      *reason = std::string(name) + " = " + quoted(begin, end) +
                " is out of range (integers must fit in int64)";
      return false;
    }
    *out = negative ? -static_cast<float>(value) : static_cast<float>(value);
    return true;
  }
  double parsed = 0.0;
  const auto result = fast_float::from_chars(begin, end, parsed);
  const bool consumed = result.ptr == end && begin < end;
  if (consumed && result.ec == std::errc() && std::isfinite(parsed) &&
      std::fabs(parsed) <= FLT_MAX) {
    *out = static_cast<float>(parsed);
    return true;
  }
  if (consumed && (result.ec == std::errc::result_out_of_range || std::isinf(parsed)) &&
      digits < end && static_cast<unsigned>(*digits - '0') < 10) {
    *reason = std::string(name) + " = " + quoted(begin, end) +
              " is out of range (numeric values must fit in float32)";
    return false;
  }
  if (consumed && std::isfinite(parsed)) {
    *reason = std::string(name) + " = " + quoted(begin, end) +
              " is out of range (numeric values must fit in float32)";
    return false;
  }
  *reason = std::string(name) + " = " + quoted(begin, end) +
            " is not a number (numeric columns hold integers or floats)";
  return false;
}

void RowParser::missing(std::size_t column, ParsedRow* row) const {
  const int slot = slot_[column];
  switch (schema_.columns[column].kind) {
    case ColumnKind::kNumeric:
      row->numeric[slot] = std::numeric_limits<float>::quiet_NaN();
      break;
    case ColumnKind::kHour:
      row->hashes[slot + 1] = kMissingHash;
      row->values[slot + 1] = {};
      [[fallthrough]];
    case ColumnKind::kCategorical:
      row->hashes[slot] = kMissingHash;
      row->values[slot] = {};
      break;
    default:
      break;
  }
}

bool RowParser::field(std::size_t column, const char* begin, const char* end, ParsedRow* row,
                      std::string* reason) const {
  const Column& spec = schema_.columns[column];
  if (spec.kind == ColumnKind::kLabel) {
    if (end - begin == 1 && (*begin == '0' || *begin == '1')) {
      row->label = static_cast<uint8_t>(*begin - '0');
      return true;
    }
    *reason = spec.name + " = " + quoted(begin, end) + " is not 0 or 1 (check the label column)";
    return false;
  }
  if (spec.kind == ColumnKind::kIgnore) return true;
  if (schema_.indexed_values) {
    for (const char* p = begin; p < end; ++p) {
      if (*p == ':') {
        end = p;
        break;
      }
    }
  }
  const std::size_t size = static_cast<std::size_t>(end - begin);
  if (size == 0 || (!spec.missing_token.empty() && spec.missing_token.size() == size &&
                    std::memcmp(spec.missing_token.data(), begin, size) == 0)) {
    missing(column, row);
    return true;
  }
  const int slot = slot_[column];
  switch (spec.kind) {
    case ColumnKind::kNumeric:
      return parse_number(spec.name, begin, end, &row->numeric[slot], reason);
    case ColumnKind::kCategorical:
      row->hashes[slot] = hash_bytes(begin, size);
      row->values[slot] = std::string_view(begin, size);
      return true;
    case ColumnKind::kHour: {
      int64_t v[4];
      bool ok = size == 8;
      for (int i = 0; ok && i < 4; ++i) {
        const unsigned hi = begin[2 * i] - '0', lo = begin[2 * i + 1] - '0';
        ok = hi < 10 && lo < 10;
        v[i] = hi * 10 + lo;
      }
      ok = ok && v[1] >= 1 && v[1] <= 12 && v[2] >= 1 && v[2] <= 31 && v[3] <= 23;
      if (!ok) {
        *reason = spec.name + " = " + quoted(begin, end) + " is not a YYMMDDHH hour";
        return false;
      }
      // 1970-01-01 was a Thursday (index 3 with Monday = 0).
      const int64_t weekday = ((days_from_civil(2000 + v[0], v[1], v[2]) + 3) % 7 + 7) % 7;
      row->values[slot] = kHours[v[3]];
      row->values[slot + 1] = kWeekdays[weekday];
      row->hashes[slot] = hash_bytes(row->values[slot]);
      row->hashes[slot + 1] = hash_bytes(row->values[slot + 1]);
      return true;
    }
    default:
      return true;
  }
}

// The common cases inline: categorical and numeric columns without a missing
// token or index suffix, and numbers that are short plain integers.
inline bool RowParser::take(std::size_t column, const char* begin, const char* end, ParsedRow* row,
                            std::string* reason) const {
  switch (path_[column]) {
    case Path::kCategorical: {
      const int slot = slot_[column];
      const std::size_t size = static_cast<std::size_t>(end - begin);
      row->hashes[slot] = size == 0 ? kMissingHash : hash_bytes(begin, size);
      row->values[slot] = std::string_view(begin, size);
      return true;
    }
    case Path::kNumeric: {
      float* out = &row->numeric[slot_[column]];
      if (begin == end) {
        *out = std::numeric_limits<float>::quiet_NaN();
        return true;
      }
      const bool negative = *begin == '-';
      const char* p = begin + negative;
      if (end - p >= 1 && end - p <= 9) {
        uint32_t value = 0;
        bool digits = true;
        for (; p < end; ++p) {
          const uint32_t digit = static_cast<uint32_t>(*p - '0');
          digits = digits && digit < 10;
          value = value * 10 + digit;
        }
        if (digits) {
          *out = negative ? -static_cast<float>(value) : static_cast<float>(value);
          return true;
        }
      }
      return parse_number(schema_.columns[column].name, begin, end, out, reason);
    }
    default:
      return field(column, begin, end, row, reason);
  }
}

bool RowParser::parse(const char* begin, const char* end, ParsedRow* row,
                      std::string* reason) const {
  const char* line_end = nullptr;
  return parse_line(begin, end, row, reason, &line_end);
}

bool RowParser::parse_line(const char* begin, const char* limit, ParsedRow* row,
                           std::string* reason, const char** line_end) const {
  row->numeric.resize(numeric_);
  row->hashes.resize(categorical_);
  row->values.resize(categorical_);
  // Find delimiters and the newline 16 bytes at a time; a last partial block
  // is copied out so nothing past `limit` is read.
  const char delimiter = schema_.delimiter;
  const char* p = begin;
  const char* end = limit;
  int64_t column = 0;
  for (const char* block = begin; block < limit; block += 16) {
    uint32_t delimiters, newlines;
    if (limit - block >= 16) {
      delimiters = byte_mask(block, delimiter);
      newlines = byte_mask(block, '\n');
    } else {
      char tail[16] = {};
      std::memcpy(tail, block, limit - block);
      const uint32_t valid = (1u << (limit - block)) - 1;
      delimiters = byte_mask(tail, delimiter) & valid;
      newlines = byte_mask(tail, '\n') & valid;
    }
    if (newlines != 0) {
      const int at = __builtin_ctz(newlines);
      end = block + at;
      delimiters &= (1u << at) - 1;
    }
    while (delimiters != 0) {
      const char* q = block + __builtin_ctz(delimiters);
      delimiters &= delimiters - 1;
      if (column < fields_ && !take(column, p, q, row, reason)) return false;
      ++column;
      p = q + 1;
    }
    if (newlines != 0) break;
  }
  *line_end = end;
  if (end > p && end[-1] == '\r') --end;
  if (column == 0 && end == begin) {
    *reason = "empty line";
    return false;
  }
  if (column < fields_ && !take(column, p, end, row, reason)) return false;
  ++column;
  if (column > fields_) {
    *reason = std::to_string(column) + " fields, schema has " + std::to_string(fields_) +
              " (check data.format / delimiter)";
    return false;
  }
  if (column < fields_) {
    if (!schema_.allow_short_rows || column <= schema_.label_column()) {
      *reason = std::to_string(column) + " fields, schema has " + std::to_string(fields_) +
                " (check data.format / delimiter, or data.allow_short_rows)";
      return false;
    }
    for (int64_t c = column; c < fields_; ++c) missing(c, row);
  }
  return true;
}

bool RowParser::parse_features(const std::vector<std::string>& fields, ParsedRow* row,
                               std::string* reason) const {
  row->numeric.resize(schema_.num_numeric());
  row->hashes.resize(schema_.num_categorical());
  row->values.resize(schema_.num_categorical());
  const int64_t expected = fields_ - (schema_.label_column() >= 0 ? 1 : 0);
  const int64_t given = static_cast<int64_t>(fields.size());
  if (given > expected || (given < expected && !schema_.allow_short_rows)) {
    *reason = std::to_string(given) + " feature fields, schema has " + std::to_string(expected) +
              " (pass every column except the label, in file order)";
    return false;
  }
  int64_t next = 0;
  for (int64_t column = 0; column < fields_; ++column) {
    if (schema_.columns[column].kind == ColumnKind::kLabel) continue;
    if (next >= given) {
      missing(column, row);
      continue;
    }
    const std::string& text = fields[next++];
    if (!field(column, text.data(), text.data() + text.size(), row, reason)) return false;
  }
  return true;
}

}  // namespace adaensemble::data
