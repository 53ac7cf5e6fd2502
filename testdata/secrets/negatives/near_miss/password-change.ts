const form = this.fb.group({
  currentPassword: ['', Validators.required],
  newPassword: ['', [Validators.required, Validators.minLength(12)]],
  confirmPassword: [''],
});
const passwordStrength = zxcvbn(form.value.newPassword).score;
