user_pref("e", "\\ \" \x41 \u00e9 \uD83D\uDE00 \n\t\r");
user_pref('s', 'single \' quote');
user_pref("nul", "\u0000");
user_pref("lone", "\uDC00");
user_pref("bad", "\xZZ");
user_pref("i", -2147483648);
user_pref("o", 2147483648);
sticky_pref("b", true, sticky);
pref("c", false, locked);
