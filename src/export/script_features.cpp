// The raw-string side of the exported module: the schema and vocabularies as
// attributes, and TorchScript that encodes rows of feature strings exactly as
// data::RowEncoder does (data/row_parser.cpp field(), parse_number() and
// parse_features(); data/vocabulary.h ids: 0 = OOV, 1 = missing).
#include <stdexcept>
#include <utility>

#include "script_parts.h"

namespace adaensemble::exporting::detail {
namespace {

// Column kinds as the TorchScript code reads them.
constexpr int64_t kRawNumeric = 0;
constexpr int64_t kRawCategorical = 1;
constexpr int64_t kRawIgnore = 2;
constexpr int64_t kRawHour = 3;

// Parsing follows RowParser: an integer text (optional sign, digits only)
// must fit in int64 and converts to float32 once; anything else must be a
// decimal number in fast_float's grammar (optional '-', digits with an
// optional '.', optional exponent) whose value fits in float32. The decimal
// order of magnitude is checked before float() so that text the C library
// would report as overflowing or underflowing never reaches it. Zeros come
// from float("0") or float("-0"): a -0.0 literal would be pooled with 0.0.
constexpr const char* kRawSource = R"ts(
def _fail(self, row: int, reason: str):
    assert False, "row " + str(row) + ": " + reason

def _is_decimal(self, body: str) -> bool:
    mantissa = body
    e = body.find("e")
    upper = body.find("E")
    if e < 0 or (upper >= 0 and upper < e):
        e = upper
    if e >= 0:
        mantissa = body[:e]
        exponent = body[e + 1:]
        if exponent.startswith("+") or exponent.startswith("-"):
            exponent = exponent[1:]
        if not exponent.isdigit():
            return False
    dot = mantissa.find(".")
    whole = mantissa
    fraction = ""
    if dot >= 0:
        whole = mantissa[:dot]
        fraction = mantissa[dot + 1:]
    if len(whole) == 0 and len(fraction) == 0:
        return False
    return (len(whole) == 0 or whole.isdigit()) and (len(fraction) == 0 or fraction.isdigit())

def _decimal_order(self, body: str) -> int:
    mantissa = body
    exponent = 0
    e = body.find("e")
    upper = body.find("E")
    if e < 0 or (upper >= 0 and upper < e):
        e = upper
    if e >= 0:
        mantissa = body[:e]
        text = body[e + 1:]
        negative = text.startswith("-")
        if negative or text.startswith("+"):
            text = text[1:]
        text = text.lstrip("0")
        if len(text) > 9:
            exponent = 1000000000
        elif len(text) > 0:
            exponent = int(text)
        if negative:
            exponent = -exponent
    dot = mantissa.find(".")
    whole = mantissa
    digits = mantissa
    if dot >= 0:
        whole = mantissa[:dot]
        digits = whole + mantissa[dot + 1:]
    first = len(digits) - len(digits.lstrip("0"))
    if first == len(digits):
        return -2000000000
    return len(whole) - 1 - first + exponent

def _number(self, column: int, text: str, row: int) -> float:
    shown = self.raw_names[column] + " = \"" + text + "\""
    negative = text.startswith("-")
    body = text
    if negative or text.startswith("+"):
        body = text[1:]
    if body.isdigit():
        limit = "9223372036854775807"
        if negative:
            limit = "9223372036854775808"
        if len(body) > 19 or (len(body) == 19 and body > limit):
            self._fail(row, shown + " is out of range (integers must fit in int64)")
        if body == "9223372036854775808":
            return -9223372036854775808.0
        magnitude = int(body)
        value = float(magnitude)
        if magnitude > 9007199254740992:
            value = float(torch.tensor([magnitude]).float())
        if negative:
            return -value
        return value
    if text.startswith("+") or not self._is_decimal(body):
        self._fail(row, shown + " is not a number (numeric columns hold integers or floats)")
    order = self._decimal_order(body)
    if order > 308 and not body[0].isdigit():
        self._fail(row, shown + " is not a number (numeric columns hold integers or floats)")
    if order > 38:
        self._fail(row, shown + " is out of range (numeric values must fit in float32)")
    if order < -300:
        zero = "0"
        if negative:
            zero = "-0"
        return float(zero)
    value = float(text)
    if value > 3.4028234663852886e+38 or value < -3.4028234663852886e+38:
        self._fail(row, shown + " is out of range (numeric values must fit in float32)")
    return value

def _hour(self, column: int, text: str, row: int) -> List[str]:
    ok = len(text) == 8 and text.isdigit()
    year = 0
    month = 0
    day = 0
    hour = 0
    if ok:
        year = 2000 + int(text[0:2])
        month = int(text[2:4])
        day = int(text[4:6])
        hour = int(text[6:8])
        ok = month >= 1 and month <= 12 and day >= 1 and day <= 31 and hour <= 23
    if not ok:
        self._fail(row, self.raw_names[column] + " = \"" + text + "\" is not a YYMMDDHH hour")
    y = year
    if month <= 2:
        y = y - 1
    era = y // 400
    yoe = y - era * 400
    shifted = month - 3
    if month <= 2:
        shifted = month + 9
    doy = (153 * shifted + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    weekday = ((days + 3) % 7 + 7) % 7
    names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    return [text[6:8], names[weekday]]

def _encode_row(self, fields: List[str], row: int, ids: List[int], values: List[float]):
    given = len(fields)
    expected = len(self.raw_kinds)
    if given > expected or (given < expected and not self.allow_short_rows):
        self._fail(row, str(given) + " feature fields, schema has " + str(expected)
                   + " (pass every column except the label, in file order)")
    row_ids: List[int] = [1] * self.num_categorical
    row_values: List[float] = [float("nan")] * self.num_numeric
    for column in range(given):
        kind = self.raw_kinds[column]
        if kind == 2:
            continue
        text = fields[column]
        if self.indexed_values:
            colon = text.find(":")
            if colon >= 0:
                text = text[:colon]
        if len(text) == 0 or text == self.raw_missing[column]:
            continue
        slot = self.raw_slots[column]
        if kind == 0:
            row_values[slot] = self._number(column, text, row)
        elif kind == 1:
            row_ids[slot] = self.vocabularies[slot].get(text, 0)
        else:
            parts = self._hour(column, text, row)
            row_ids[slot] = self.vocabularies[slot].get(parts[0], 0)
            row_ids[slot + 1] = self.vocabularies[slot + 1].get(parts[1], 0)
    ids.extend(row_ids)
    values.extend(row_values)

def encode_raw(self, rows: List[List[str]]) -> Tuple[Tensor, Tensor]:
    ids: List[int] = []
    values: List[float] = []
    for row in range(len(rows)):
        self._encode_row(rows[row], row, ids, values)
    count = len(rows)
    categorical = torch.tensor(ids, dtype=LONG).view([count, self.num_categorical])
    numeric = torch.tensor(values, dtype=FLOAT).view([count, self.num_numeric])
    return categorical, numeric

def score_raw(self, rows: List[List[str]]) -> Tensor:
    categorical, numeric = self.encode_raw(rows)
    return self.forward(categorical, numeric)
)ts";

int64_t raw_kind(data::ColumnKind kind) {
  switch (kind) {
    case data::ColumnKind::kNumeric:
      return kRawNumeric;
    case data::ColumnKind::kCategorical:
      return kRawCategorical;
    case data::ColumnKind::kHour:
      return kRawHour;
    default:
      return kRawIgnore;
  }
}

}  // namespace

void add_raw_features(torch::jit::Module& root, const data::Schema& schema,
                      const data::Vocabulary& vocabulary) {
  if (vocabulary.num_fields() != schema.num_categorical()) {
    throw std::runtime_error("export: the vocabulary has " +
                             std::to_string(vocabulary.num_fields()) + " fields, the schema " +
                             std::to_string(schema.num_categorical()) + " categorical fields");
  }
  // Every column but the label, in file order, with its output slot (as
  // RowParser numbers them: numeric and categorical outputs counted apart).
  c10::List<int64_t> kinds, slots;
  c10::List<std::string> names, missing;
  int64_t numeric = 0;
  int64_t categorical = 0;
  for (const data::Column& column : schema.columns) {
    if (column.kind == data::ColumnKind::kLabel) continue;
    kinds.push_back(raw_kind(column.kind));
    names.push_back(column.name);
    missing.push_back(column.missing_token);
    if (column.kind == data::ColumnKind::kNumeric) {
      slots.push_back(numeric++);
    } else if (column.kind == data::ColumnKind::kCategorical) {
      slots.push_back(categorical++);
    } else if (column.kind == data::ColumnKind::kHour) {
      slots.push_back(categorical);
      categorical += 2;
    } else {
      slots.push_back(-1);
    }
  }
  root.register_attribute("raw_kinds", c10::ListType::ofInts(), kinds);
  root.register_attribute("raw_slots", c10::ListType::ofInts(), slots);
  root.register_attribute("raw_names", c10::ListType::ofStrings(), names);
  root.register_attribute("raw_missing", c10::ListType::ofStrings(), missing);
  root.register_attribute("indexed_values", c10::BoolType::get(), schema.indexed_values);
  root.register_attribute("allow_short_rows", c10::BoolType::get(), schema.allow_short_rows);
  root.register_attribute("num_numeric", c10::IntType::get(), numeric);
  root.register_attribute("num_categorical", c10::IntType::get(), categorical);

  const auto dict_type = c10::DictType::create(c10::StringType::get(), c10::IntType::get());
  c10::impl::GenericList vocabularies(dict_type);
  c10::List<std::string> vocabulary_names;
  for (const data::Vocabulary::Field& field : vocabulary.fields()) {
    c10::Dict<std::string, int64_t> ids;
    ids.reserve(field.values.size());
    for (std::size_t i = 0; i < field.values.size(); ++i) {
      ids.insert(field.values[i], static_cast<int64_t>(i) + data::kFirstValueId);
    }
    vocabularies.push_back(ids);
    vocabulary_names.push_back(field.name);
  }
  root.register_attribute("vocabularies", c10::ListType::create(dict_type), vocabularies);
  root.register_attribute("vocabulary_names", c10::ListType::ofStrings(), vocabulary_names);
  // Dtypes by number: `torch.long` and the like do not resolve in C++-defined source.
  std::string source = kRawSource;
  for (const auto& [name, type] : {std::pair{"LONG", at::kLong}, std::pair{"FLOAT", at::kFloat}}) {
    const std::string placeholder = std::string("dtype=") + name;
    source.replace(source.find(placeholder), placeholder.size(),
                   "dtype=" + std::to_string(static_cast<int>(type)));
  }
  root.define(source);
}

}  // namespace adaensemble::exporting::detail
