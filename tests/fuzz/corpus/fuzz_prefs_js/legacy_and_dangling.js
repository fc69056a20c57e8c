user_pref("mail.smtpserver.smtp1.hostname", "legacy.example");
user_pref("mail.smtpserver.smtp1.auth_method", 0);
user_pref("mail.smtpserver.smtp2.hostname", "sec.example");
user_pref("mail.smtpserver.smtp2.useSecAuth", true);
user_pref("mail.smtpserver.default.try_ssl", 3);
user_pref("mail.smtpserver.smtp1.password", "secret");
user_pref("mail.identity.id1.smtpServer", "smtp7");
user_pref("mail.identity.id1.useremail", "x@example.com");
