user_pref("mail.smtpserver.smtp1.hostname", "prefs.example");
user_pref("mail.smtpservers", "smtp1");
user_pref("mail.identity.id1.useremail", "a@example.com");
//@user.js
user_pref("mail.smtpserver.smtp1.hostname", "user.example");
user_pref("mail.smtpserver.smtp2.hostname", "two.example");
pref("mail.smtp.defaultserver", "smtp2", locked);
