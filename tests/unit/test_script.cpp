#include "ilm/data/script.h"

#include <gtest/gtest.h>

namespace ilm {
namespace {

TEST(Script, OfCodePoints) {
  EXPECT_EQ(script_of(U'a'), Script::latin);
  EXPECT_EQ(script_of(U'7'), Script::common);
  EXPECT_EQ(script_of(U'é'), Script::latin);
  EXPECT_EQ(script_of(U'م'), Script::arabic);
  EXPECT_EQ(script_of(U'\u064E'), Script::common);  // fatha: inherited, takes its base's script
  EXPECT_EQ(script_of(U'\u0660'), Script::arabic);  // Arabic-Indic digits are Arabic in Scripts.txt
  EXPECT_EQ(script_of(U'я'), Script::cyrillic);
  EXPECT_EQ(script_of(U'中'), Script::han);
  EXPECT_EQ(script_of(U'カ'), Script::kana);
  EXPECT_EQ(script_of(U'한'), Script::hangul);
  EXPECT_EQ(script_of(U'ሀ'), Script::other);  // Ethiopic
}

TEST(Script, CountsAndDominant) {
  ScriptCounts c = count_scripts("مَرحبا hi 42!");
  EXPECT_EQ(c.of(Script::arabic), 5);
  EXPECT_EQ(c.of(Script::latin), 2);
  EXPECT_EQ(c.letters(), 7);
  EXPECT_EQ(c.dominant(), Script::arabic);
  EXPECT_NEAR(c.fraction(Script::arabic), 5.0 / 7.0, 1e-12);
  EXPECT_EQ(count_scripts("123 ...").dominant(), Script::common);
  EXPECT_EQ(count_scripts("\xff\xfe").of(Script::other), 2);
}

TEST(Script, Names) {
  EXPECT_EQ(script_name(Script::arabic), "Arabic");
  EXPECT_EQ(script_from_name("arabic"), Script::arabic);
  EXPECT_EQ(script_from_name("LATIN"), Script::latin);
  EXPECT_FALSE(script_from_name("Klingon").has_value());
}

}  // namespace
}  // namespace ilm
