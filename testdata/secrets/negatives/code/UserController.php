<?php
class UserController extends Controller
{
    public function store(Request $request)
    {
        $password = $request->input('password');
        $validated = $request->validate(['password' => 'required|min:12|confirmed']);
        $user->password = Hash::make($password);
        $token = $user->createToken('api-token')->plainTextToken;
        return response()->json(['token' => $token]);
    }
}
