user_pref("mail.smtpserver.smtp1.hostname", "before.example");
user_pref("mail.smtpserver.smtp1.port", 587;
user_pref("mail.smtpserver.smtp2.hostname", "unterminated);
user_pref("mail.smtpserver.smtp3.hostname", "after.example")
user_pref("mail.smtpservers", "smtp1,smtp2,smtp3");
/* open comment
